import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.naming.NamingService;

import java.util.List;

/**
 * The steps only one client line has, for nacos-client 2.x: none. (Fuzzy watch and the
 * distributed lock are 3.x APIs: see src/main/nacos-3/LineFeatures.java.) Compiled only into
 * the 2.x build (see pom.xml).
 */
final class LineFeatures {
    private LineFeatures() {
    }

    static void run(Features.Server srv, String namespace, String id, NamingService naming1,
            NamingService naming2, ConfigService config1, List<Features.Body> closers) {
        Features.info("nacos-client 2.x: no fuzzy watch or lock API, those steps are 3.x only");
    }
}
