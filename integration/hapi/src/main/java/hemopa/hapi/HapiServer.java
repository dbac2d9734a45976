package hemopa.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import com.zaxxer.hikari.HikariDataSource;
import jakarta.persistence.EntityManagerFactory;
import java.nio.file.Path;
import java.util.Properties;
import javax.sql.DataSource;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.core.env.Environment;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * Minimal HAPI FHIR JPA R4 server (H2) for hemopa's integration tests; not for production.
 *
 * <p>Settings use the hapi-fhir-jpaserver-starter names (hapi.fhir.*) so the harness can pass the same
 * values to this jar and to the official Docker image. Extra flags:
 * <ul>
 *   <li>{@code --hemopa.db-dir=DIR}: keep the H2 database in DIR (survives restarts); default in-memory.
 *   <li>{@code --hemopa.parent-pid=PID}: exit when process PID is gone, so a killed test binary never
 *       leaves this server behind.
 * </ul>
 */
@SpringBootConfiguration
// Only the Boot auto-configuration this server needs (embedded Tomcat + server.* properties). Full
// auto-configuration also starts an Elasticsearch client, Thymeleaf, Jackson, Flyway... and slows startup.
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	SubscriptionChannelConfig.class // in-memory message broker used by batch2
})
public class HapiServer {

	public static void main(String[] args) {
		watchParent(args);
		SpringApplication.run(HapiServer.class, args);
	}

	/**
	 * With --hemopa.parent-pid=PID, exit once that process is gone (checked every 2 s from the very start;
	 * if it dies mid-startup the JVM exits as soon as Spring has finished starting).
	 */
	private static void watchParent(String[] args) {
		long parent = 0;
		for (String a : args) {
			if (a.startsWith("--hemopa.parent-pid=")) {
				parent = Long.parseLong(a.substring("--hemopa.parent-pid=".length()));
			}
		}
		if (parent <= 0) {
			return;
		}
		long pid = parent;
		Thread watchdog = new Thread(() -> {
			while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
				try {
					Thread.sleep(2000);
				} catch (InterruptedException e) {
					return;
				}
			}
			System.err.println("hemopa-hapi: parent process " + pid + " is gone, exiting");
			System.exit(3); // runs Spring's shutdown hook: closes the context and H2 cleanly
		}, "hemopa-parent-watchdog");
		watchdog.setDaemon(true);
		watchdog.start();
	}

	@Bean(destroyMethod = "close")
	public DataSource dataSource(Environment env) {
		String dir = env.getProperty("hemopa.db-dir", "").trim();
		HikariDataSource ds = new HikariDataSource();
		ds.setDriverClassName("org.h2.Driver");
		// DB_CLOSE_ON_EXIT=FALSE: Spring closes the pool (and so H2) on shutdown, after HAPI is done with it.
		ds.setJdbcUrl(dir.isEmpty()
				? "jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1;DB_CLOSE_ON_EXIT=FALSE"
				: "jdbc:h2:file:" + Path.of(dir).toAbsolutePath().resolve("hapi") + ";DB_CLOSE_ON_EXIT=FALSE");
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaximumPoolSize(10);
		return ds;
	}

	@Bean
	public JpaStorageSettings storageSettings(Environment env) {
		JpaStorageSettings s = new JpaStorageSettings();
		s.setResourceClientIdStrategy(env.getProperty(
				"hapi.fhir.client_id_strategy",
				JpaStorageSettings.ClientIdStrategyEnum.class,
				JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC));
		s.setEnforceReferentialIntegrityOnWrite(
				env.getProperty("hapi.fhir.enforce_referential_integrity_on_write", Boolean.class, true));
		s.setEnforceReferentialIntegrityOnDelete(
				env.getProperty("hapi.fhir.enforce_referential_integrity_on_delete", Boolean.class, true));
		s.setReuseCachedSearchResultsForMillis(
				env.getProperty("hapi.fhir.reuse_cached_search_results_millis", Long.class, 60000L));
		s.setAllowMultipleDelete(env.getProperty("hapi.fhir.allow_multiple_delete", Boolean.class, false));
		s.setExpungeEnabled(env.getProperty("hapi.fhir.expunge_enabled", Boolean.class, false));
		s.setDeleteExpungeEnabled(env.getProperty("hapi.fhir.delete_expunge_enabled", Boolean.class, false));
		s.setAdvancedHSearchIndexing(false);
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings();
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.search.enabled", "false");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		emf.setJpaProperties(p);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		return new JpaTransactionManager(entityManagerFactory);
	}

	@Bean
	public RestfulServer restfulServer(
			Environment env,
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviders,
			JpaSystemProvider<?, ?> systemProvider,
			DatabaseBackedPagingProvider pagingProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		server.registerProviders(resourceProviders.createProviders());
		server.registerProvider(systemProvider); // transaction/batch Bundles, $meta, ...
		pagingProvider.setDefaultPageSize(env.getProperty("hapi.fhir.default_page_size", Integer.class, 20));
		pagingProvider.setMaximumPageSize(env.getProperty("hapi.fhir.max_page_size", Integer.class, 1000));
		server.setPagingProvider(pagingProvider);
		server.setDefaultResponseEncoding(
				env.getProperty("hapi.fhir.default_encoding", EncodingEnum.class, EncodingEnum.JSON));
		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("hemopa test HAPI FHIR R4 server");
		server.setServerConformanceProvider(capabilities);
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(RestfulServer server) {
		ServletRegistrationBean<RestfulServer> reg = new ServletRegistrationBean<>(server, "/fhir/*");
		reg.setLoadOnStartup(1);
		return reg;
	}
}
